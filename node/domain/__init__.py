"""The counter's rules as pure functions and values: no database, no network, no clock.

    const          limits and login defaults, with units and reasons
    money          Decimal helpers with ERPNext's rounding (``flt``)
    barcode        EAN/UPC check digits and weight/price labels
    totals/        ERPNext 15's POS totals and taxes, to the cent
    pricing_rules  ERPNext 15's Pricing Rules for a POS line: which apply, what they do
    pos_context    what a counter sells under: profile, taxes, modes of payment
    cart           a cart being rung up, and what may be done to it
    sale           a cart priced and paid: the body of a ``sale.submitted`` event
    discount       a cart's effective discount against the role limit, and its approval
    coupons        Coupon Codes at the till: which one a code names, whether it may be used
    loyalty        Loyalty Programs: points earned, redeemed, given back by a return
    batches        batches with expiry and serial numbers: which batch a scan sells, what
                   a sale of them may not do
    shift_totals   what the drawer should hold; the X and Z report
    roles          roles, actions and the permission matrix
    credentials    PIN/password hashing, lockout after failed logins, the session book
    releases       the releases of Tillmesh the store lets sell (an admin's hold)
    retention      how long events stay live, and how far the archive may move
    invoice_ranges invoice numbers as ranges: what left the live store for good

May import only the standard library, ``argon2`` (credentials) and
``tillmesh.node.errors``. Everything here is tested without a store.
"""
