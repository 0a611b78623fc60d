import sys

from segal_dsl.cli import main

sys.exit(main())
