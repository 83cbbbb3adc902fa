"""ragline.testing"""
