from dynamarks.host.cli import main

raise SystemExit(main())
