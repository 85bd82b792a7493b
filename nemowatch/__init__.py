"""nemowatch: a watch-folder daemon for the NemoVideo AI video editor."""

__version__ = "0.1.0"
