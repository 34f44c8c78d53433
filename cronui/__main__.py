import sys

from cronui.cli import main

sys.exit(main())
