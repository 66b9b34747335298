"""The command line: each module parses its options and calls one library function."""
