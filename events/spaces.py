"""The characters a value's ends may hold and lose, in one place for every reader and code lookup."""

SPACES = " \t\r\n"
"""What the ends of a text value may hold and lose: spaces and tabs as typed, a YAML block's last line break. Any other
character ``str.strip`` would take off (a control character such as U+001C or U+0085, U+00A0, U+3000) is refused
where it begins or ends a value: taken off, the value was stored other than given, and it cannot be seen in an error."""
