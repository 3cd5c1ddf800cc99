from sync_pipeline.cli import main

raise SystemExit(main())
