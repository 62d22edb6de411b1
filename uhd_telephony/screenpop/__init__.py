"""Screen-pop: compose the pop when an agent answers, fan it out to that agent's consoles only."""
