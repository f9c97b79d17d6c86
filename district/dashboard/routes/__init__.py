"""The dashboard's routes, one router per area: sign-in, pages, downloads and the JSON API
(``district.app`` includes them)."""
