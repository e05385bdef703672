import sys

from dibpy.frontends.cli import main

sys.exit(main())
