"""The CLI's commands, one module each: thin glue that parses options and calls the rooms below (it may import them all)."""
