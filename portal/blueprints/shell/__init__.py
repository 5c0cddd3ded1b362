"""The installable shell: manifest, service worker, offline and crisis pages."""
