"""The WeChat mini-program adapter (the mall's login: code2session). The storefront in siyu.orders is its user."""
