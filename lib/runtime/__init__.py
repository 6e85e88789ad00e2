"""What training and inference share at run time: devices, the run folder's paths, reading a params file.

Layer: above lib.model (it reads params files against a network), below lib.train and lib.inference.
"""
