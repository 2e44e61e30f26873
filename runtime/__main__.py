"""``python -m anime_detector``: the same as the ``anime-detector`` command."""

from anime_detector._entry import main

if __name__ == "__main__":
    main()
