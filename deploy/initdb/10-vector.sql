-- pgvector is not a trusted extension: the image's superuser creates it once.
CREATE EXTENSION IF NOT EXISTS vector;
