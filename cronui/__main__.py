import sys

from cronui.main import main

sys.exit(main())
