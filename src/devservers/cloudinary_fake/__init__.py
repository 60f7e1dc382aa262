"""A local server that speaks the part of Cloudinary's Upload API Reserva uses.

`python -m devservers.cloudinary_fake --port N --cloud-name C --api-key K --api-secret S`:
signed uploads (multipart, the signature of the parameters checked as Cloudinary checks it,
stale timestamps, formats and sizes refused), signed upload and moderation notifications
POSTed to the `notification_url`, `destroy`, delivery of the stored originals, and test
controls under /_test. `LocalCloudinary` (controller.py) runs it as a child process.
"""

from devservers.cloudinary_fake.controller import CloudinaryControl, LocalCloudinary

__all__ = ["CloudinaryControl", "LocalCloudinary"]
