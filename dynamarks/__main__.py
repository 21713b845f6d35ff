from dynamarks.cli import main

raise SystemExit(main())
