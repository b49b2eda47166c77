"""Every change to orders, after-sales and presales goes through these functions (carts: siyu.storefront.services).

State machine (each move is a conditional UPDATE `... WHERE status IN (<from>)`, so a worker, a customer and an
operator can never both move one order; a move from any other state raises Conflict(invalid_transition)):

    pending_payment ─mark_paid─▶ paid ─ship─▶ shipped ─complete─▶ completed
          │                       └─mark_picked_up─▶ picked_up ─complete─▶ completed
          ├─cancel (customer / staff) / expire (timeout)─▶ cancelled   (stock, flash stock and coupon returned)
          └─(presale) mark_paid─▶ deposit_paid ─mark_paid (balance window)─▶ paid ...
                                       └─expire (balance window over)─▶ cancelled  (stock back, deposit kept)
    paid / shipped / picked_up / completed ─(full refund completed)─▶ refunded

After-sales: requested ─approve─▶ approved ─(return and refund) mark_returned─▶ returned ─complete_refund─▶ refunded;
approved (refund only) ─complete_refund─▶ refunded; requested ─reject─▶ rejected.

Payment and the refund's money are the finance issue's: `mark_paid` and `complete_refund` are the calls it will make
(tests and the demo make them today). Lock order inside a checkout: flash-sale items, then SKU rows (both in id
order), then the coupon: every transaction takes them in that order, so concurrent checkouts cannot deadlock.

The writes live one module per capability: placement (what placing an order shares: the input types, store and
address checks, stock, order_created; the storefront's checkout and presales use it), states (payment, shipping,
pick-up, completion, cancelling, expiry), after_sale, presale, imports (platform and POS order imports), merge
(customer merge). The shopper's side (the mini-program login, cart, checkout) is siyu.storefront.services. Import
the module you need: `from siyu.orders.services import states`. This package re-exports nothing.
"""
