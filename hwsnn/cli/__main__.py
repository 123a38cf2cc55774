"""`python -m hwsnn.cli` runs the hwsnn command line."""

from .main import main

main()
