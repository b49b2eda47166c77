"""Chinese number formats as the console shows them: grouped by thousands with a comma (1,234,567), the way finance
reports and Chinese business software print amounts, and the same grouping the English console uses. Django's own
zh_Hans formats group by ten thousand without a separator (1234567), so a figure read in the two languages differed.
Everything else is Django's."""

from django.conf.locale.zh_Hans.formats import *  # noqa: F403

THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
