"""cloudinary."""
