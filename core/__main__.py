import sys

from ganpad.cli import main

sys.exit(main())
