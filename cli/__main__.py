from alignx.cli import main

raise SystemExit(main())
