"""Put on PYTHONPATH by the image's ENV: imported only if the image's environment reached the program."""
IMPORTED = True
