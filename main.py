from fpstation.app import main

raise SystemExit(main())
