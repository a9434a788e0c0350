"""`tunewise run`: the whole pipeline as one command, stage by stage, cached by content."""
