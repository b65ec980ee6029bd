"""Security tests: what a hostile or broken party (an ERPNext, a peer, a caller of the local
API) can make a counter do, tried against real processes and real sockets on 127.0.0.1."""
