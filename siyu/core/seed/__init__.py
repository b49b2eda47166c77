"""What the kernel keeps of the demo data generator: the seed-step registry (hooks) and progress reporting, so domain
apps can add their demo data without importing the generator (siyu.seed), which imports them.
"""
