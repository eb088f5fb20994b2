import sys

from rfpose.cli import main

sys.exit(main())
