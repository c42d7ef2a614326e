import sys

from tools.nemesis.run import main

sys.exit(main())
