"""Tests of deploy/: install.sh and uninstall.sh into a throwaway root, the units, and the
node's API socket that the till's app user reaches through a group (issue 13)."""
