"""The demo data generator: a plausible enterprise (org, customers, identities, followers, tags, a year of events),
deterministic from a seed and written set-based, so tier A (1M customers, 20M events) loads in minutes.

It sits above the domain apps (it may import their models and services; none of them imports it). Other apps add their
own demo data with `siyu.core.seed.hooks.register_seed_step`; `siyu seed` and `siyu demo` are its commands.
"""
