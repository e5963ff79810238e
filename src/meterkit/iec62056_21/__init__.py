"""Sans-IO IEC 62056-21 protocol core: messages, codec and the two connection state machines."""
