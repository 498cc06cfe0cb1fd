import sys

from vre_cli.main import console_main

sys.exit(console_main())
