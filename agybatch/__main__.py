from agybatch.cli.main import main

raise SystemExit(main())
