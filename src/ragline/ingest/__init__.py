"""ragline.ingest"""
