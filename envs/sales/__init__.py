"""Sales histories: reading long-format files, cleaning them, and the data stocklab ships."""
