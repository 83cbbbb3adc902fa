"""ragline.answer"""
