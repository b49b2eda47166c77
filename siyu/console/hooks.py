"""Moved to siyu.customers.sections (apps register profile sections without importing the console).

Kept only so the apps being added on other branches keep importing while they merge; new code imports
siyu.customers.sections.
"""

from siyu.customers.sections import (  # noqa: F401
    ProfileSection,
    profile_section,
    register_profile_section,
    render_profile_section,
    unregister_profile_section,
)
