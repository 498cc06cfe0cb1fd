import sys

from vre_cli.main import main

sys.exit(main())
