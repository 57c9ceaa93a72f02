"""The behaviour-policy zoo: SAC-trained snapshots of MuJoCo policies, shipped as small NumPy files."""
