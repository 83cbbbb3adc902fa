"""ragline.models"""
