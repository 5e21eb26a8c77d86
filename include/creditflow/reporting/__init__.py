"""双公示 reporting: standardisation, validation (GX), review, district submissions and the pipeline stages."""
