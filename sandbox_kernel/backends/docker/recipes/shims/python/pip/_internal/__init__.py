# Reached by console scripts that import pip's internals directly (/usr/bin/pip3): same message.
import sys

from pip import main

sys.exit(main())
