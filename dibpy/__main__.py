import sys

from dibpy.cli import main

sys.exit(main())
