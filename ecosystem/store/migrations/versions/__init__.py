"""One module per revision, one linear chain for every table the project stores."""
