"""The shopper's writes, one module per capability: shopper_login (the mini-program login, storefront sessions,
product views), cart, checkout (preview and placing an order). The steps an order placement shares with presales
are the orders app's (siyu.orders.services.placement); what happens to an order after it is placed (payment,
shipping, cancelling, after-sales) is siyu.orders.services. Import the module you need:
`from siyu.storefront.services import checkout`. This package re-exports nothing.
"""
