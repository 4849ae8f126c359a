"""The local NOX emulator (its own small Quart app), so both flows run end to end on one machine."""
