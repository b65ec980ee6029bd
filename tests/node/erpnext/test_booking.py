"""The pull reads Bin while no sale is being booked by this counter's forwarder
(``erpnext._booking``): at a busy store in ERPNext 16's Sales Invoice mode a sale booked
during the reading would make the pull read again, for ever."""

from __future__ import annotations

import threading
import time

from tillmesh.node.erpnext._booking import StockBooking

JOIN_S = 30.0  # a thread that has not ended by then is stuck: the test fails


def test_no_sale_is_booked_while_bin_is_read_and_both_go_on() -> None:
    gate = StockBooking()
    lock = threading.Lock()
    booking: set[int] = set()
    seen: list[str] = []  # every way the two met
    read = [False]

    def sale(i: int) -> None:
        for _ in range(300):
            with gate.booking():
                with lock:
                    booking.add(i)
                for _ in range(5):  # the request takes a while: others run meanwhile
                    time.sleep(0)
                    with lock:
                        if read[0]:
                            seen.append(f"sale {i} booked while Bin was read")
                with lock:
                    booking.discard(i)
            time.sleep(0)  # the next sale is rung up

    def pull() -> None:
        for _ in range(100):
            with gate.reading():
                with lock:
                    if read[0]:
                        seen.append("two readings of Bin at once")
                    read[0] = True
                for _ in range(5):  # Bin's pages
                    time.sleep(0)
                    with lock:
                        if booking:
                            seen.append(f"Bin read while {sorted(booking)} were booked")
                with lock:
                    read[0] = False

    threads = [threading.Thread(target=sale, args=(i,)) for i in range(3)]
    threads += [threading.Thread(target=pull) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(JOIN_S)
    assert [t for t in threads if t.is_alive()] == []  # neither waits on the other for ever
    assert seen == []
